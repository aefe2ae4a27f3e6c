"""What is a customer worth: BG/NBD + Gamma-Gamma predictive CLV and its stored fits."""

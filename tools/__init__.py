"""Project checks run by ``make lint`` and the test suite."""

"""Who may see what: sign-in, roles, masking and pseudonyms."""

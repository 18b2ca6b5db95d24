"""Local authorization lists (1.6 LocalAuthListManagement, 2.0.1 block D)."""

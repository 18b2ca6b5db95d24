"""Authorization (1.6 Core Authorize, 2.0.1 block C)."""

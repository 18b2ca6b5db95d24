"""Display messages (2.0.1 block O): Set/Get/ClearDisplayMessage, messages bound
to a transaction."""

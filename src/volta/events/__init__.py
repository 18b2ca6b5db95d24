"""Things that happen, told to operators: webhooks and a live stream."""

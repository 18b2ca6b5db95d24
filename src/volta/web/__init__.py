"""The operator dashboard: server-rendered pages made live with htmx."""

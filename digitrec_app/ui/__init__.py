"""The dashboard's shared pieces: cached resources and UI components, written once for all pages."""

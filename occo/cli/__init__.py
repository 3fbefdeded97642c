"""Console scripts: parse flags, call the API, print. No logic lives here."""

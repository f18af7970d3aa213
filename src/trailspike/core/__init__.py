"""Cross-cutting pieces: settings, errors, time parsing, registries."""

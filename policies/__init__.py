"""The stack's CrossGuard policy pack: rules (importable) and an offline runner."""

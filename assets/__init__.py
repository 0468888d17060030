"""Software-defined assets, the event schema and the validation that guards exports."""

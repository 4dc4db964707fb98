"""Person cases (一人一案): persons, consent, the case lifecycle and home visits."""

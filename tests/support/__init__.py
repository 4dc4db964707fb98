"""What tests share that is not a fixture: request bodies built from one place."""

"""Micro-wishes (微心愿) open to claim: what enterprises, charities and volunteers may take on."""

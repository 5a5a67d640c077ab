"""Configuration: JSON Schemas shipped as package data, loaders into frozen dataclasses."""

"""The alert log writer and the incremental reader."""

"""The OS seam: processes, files, init systems, process identity, sd_notify."""

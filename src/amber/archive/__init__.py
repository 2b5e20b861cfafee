"""The archive appended to every amber binary: format, writer, and the byte-compile step."""

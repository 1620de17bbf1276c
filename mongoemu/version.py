"""What the emulator reports itself as: MongoDB 6.0's wire version range."""

VERSION = "6.0.0-mongoemu"
MIN_WIRE_VERSION = 0
MAX_WIRE_VERSION = 17

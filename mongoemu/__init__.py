"""mongoemu: a MongoDB replica-set member emulator speaking the wire protocol."""

"""Backups and point-in-time restores through the driver, the stand-in for mongodump, a
continuous oplog backup (Atlas's continuous backup) and the guide's application-level export.

A backup set is one folder:

    <set>/
      manifest.json          what the set holds and the sha256 of every file (layout.py), rewritten
                             atomically whenever the set grows
      snapshot/              mongodump's layout: <db>/<coll>.bson + <coll>.metadata.json (indexes
                             and their options), oplog.bson (the entries from the dump's start to
                             its end: replayed, they make the fuzzy copy consistent at the end)
      oplog/NNNNNN.bson      continuous-backup slices: majority-committed oplog entries, in order
      export/app.json        the guide's application-level export (users without `password`,
                             prompts, vector-store metadata) with its own integrity fields

Every file is written under a temporary name and renamed, and the manifest last, so a set is
either what its manifest says or refused by `verify` before anything is restored from it.
"""

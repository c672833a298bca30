"""The catalog editor: the office's own staff draft, check, publish, compare, roll back and retire e-services.

A service being edited is a working copy (the `usluga.yaml` mapping, its XSD and the schemas that XSD imports);
publishing it writes a new `EService` version, which every web worker offers from its next request, while
drafts already started keep the version they began with. docs/catalog-editor.md describes the rules.
"""

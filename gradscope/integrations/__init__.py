"""gradscope inside the trainers people use: `gradscope.integrations.lightning` and
`gradscope.integrations.transformers`, each a `GradscopeCallback`.

Importing this package loads nothing heavy; each submodule imports its framework (and says which extra to install
when it is missing).
"""

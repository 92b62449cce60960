"""Services: rendering for people and CI: rich console text, JUnit XML, comparison plots, clipping snippets.
Nothing here computes findings."""

"""Services: runs made to answer a question: `recommend` (threshold trials) and `compare` (A/B runs)."""

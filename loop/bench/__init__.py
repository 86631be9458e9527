"""`loop bench`: replay a dataset campaign with several strategies and compare them."""

"""estate: declare a polyglot data estate with Pulumi and prove it holds with a harness."""

"""Transfer learning: adapt pretrained vectors to a labelled target task."""

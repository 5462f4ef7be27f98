"""Analysis of an inquiry's text for triage: its language (language.py), sentiment
(sentiment.py) and the entities it names (entities.py). Pure functions of the text and settings."""

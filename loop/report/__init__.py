"""Views of a campaign: terminal summaries now, HTML reports later."""

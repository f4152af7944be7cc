"""Registry service: owns item content (事项要素), its revisions, relations and imports."""

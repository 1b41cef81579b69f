"""Desktop images: the catalog label schema and the maintainers' build/test/list tool."""

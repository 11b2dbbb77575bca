"""The archive around the media: walking folders and zips, who posted a file
(accounts from paths, posts from the release's CSVs), and path maps for
worker hosts."""

"""One file: what it is (``kinds``), how a still is decoded (``decode``) and
hashed (``hashing``), and the whole of it as one result (``fingerprint``)."""

-- Whether a worker runs each build in a network of its own (false: started
-- with --unconfined, its builds on the host's network; the board warns).
ALTER TABLE workers ADD COLUMN confined boolean NOT NULL DEFAULT true;

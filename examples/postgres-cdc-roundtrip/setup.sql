-- The source table of the example: orders, with a few rows before capture starts (they
-- arrive through the connector's initial snapshot).
CREATE TABLE orders (
    id       integer PRIMARY KEY,
    customer text NOT NULL,
    amount   numeric(10, 2) NOT NULL,
    status   text NOT NULL,
    placed   timestamptz NOT NULL DEFAULT now(),
    details  jsonb
);
INSERT INTO orders (id, customer, amount, status, details)
SELECT i, 'customer ' || (i % 7), i * 9.99, 'new', jsonb_build_object('items', i % 3 + 1)
FROM generate_series(1, 20) AS i;

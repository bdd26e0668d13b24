-- Changes made while the connectors run: they stream through the CDC topic into the copy.
INSERT INTO orders (id, customer, amount, status, details) VALUES (21, 'customer 1', 120.00, 'new', '{"items": 4}');
UPDATE orders SET status = 'paid' WHERE id IN (1, 2, 3);
UPDATE orders SET amount = amount + 5, status = 'changed' WHERE id = 10;
DELETE FROM orders WHERE id = 20;
BEGIN;
INSERT INTO orders (id, customer, amount, status) VALUES (22, 'customer 2', 7.50, 'new');
UPDATE orders SET status = 'shipped' WHERE id = 21;
COMMIT;

import Postgres

/// The demo system of record the retail tools act on (schema `commerce`): customers, orders,
/// shipments, invoices. Its demo rows are not a migration: `make up` (and the end-to-end tests)
/// ask for them with `SWITCHBOARD_DEMO_DATA=true`, so ABC123 has shipped and ZZZ999 does not
/// exist; a production database gets the tables only.
public enum CommerceSchema {
    public static let systemOfRecord = SystemOfRecord(name: "commerce", migrations: migrations, demoData: demoData)

    static let migrations: [Migration] = [
        Migration(version: 1, name: "commerce_tables", sql: """
            CREATE TABLE customers (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                name text NOT NULL,
                email text NOT NULL,
                PRIMARY KEY (tenant_id, customer_id)
            );
            CREATE TABLE orders (
                tenant_id text NOT NULL,
                order_id text NOT NULL,
                customer_id text NOT NULL,
                status text NOT NULL CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled')),
                placed_at date NOT NULL,
                total_cents bigint NOT NULL CHECK (total_cents >= 0),
                currency text NOT NULL DEFAULT 'USD',
                PRIMARY KEY (tenant_id, order_id),
                FOREIGN KEY (tenant_id, customer_id) REFERENCES customers
            );
            CREATE TABLE shipments (
                tenant_id text NOT NULL,
                order_id text NOT NULL,
                carrier text NOT NULL,
                tracking_number text NOT NULL,
                shipped_at date NOT NULL,
                estimated_delivery date,
                delivered_at date,
                PRIMARY KEY (tenant_id, order_id),
                FOREIGN KEY (tenant_id, order_id) REFERENCES orders
            );
            CREATE TABLE invoices (
                tenant_id text NOT NULL,
                invoice_id text NOT NULL,
                order_id text NOT NULL,
                amount_cents bigint NOT NULL,
                status text NOT NULL CHECK (status IN ('open', 'paid', 'refunded')),
                issued_at date NOT NULL,
                PRIMARY KEY (tenant_id, invoice_id),
                FOREIGN KEY (tenant_id, order_id) REFERENCES orders
            );
            """),
    ]
}

extension CommerceSchema {
    /// Idempotent: applied at every start of a demo stack.
    static let demoData = """
            INSERT INTO customers VALUES
                ('default', 'cus_1001', 'Ada Lovelace', 'ada@example.com'),
                ('default', 'cus_1002', 'Grace Hopper', 'grace@example.com'),
                ('default', 'cus_1003', 'Alan Turing', 'alan@example.com')
                ON CONFLICT DO NOTHING;
            INSERT INTO orders VALUES
                ('default', 'ABC123', 'cus_1001', 'shipped', '2026-11-18', 5990, 'USD'),
                ('default', 'DEF456', 'cus_1001', 'processing', '2026-11-22', 12900, 'USD'),
                ('default', 'GHI789', 'cus_1002', 'delivered', '2026-11-02', 2450, 'USD'),
                ('default', 'JKL012', 'cus_1003', 'cancelled', '2026-11-10', 8800, 'USD')
                ON CONFLICT DO NOTHING;
            INSERT INTO shipments VALUES
                ('default', 'ABC123', 'UPS', '1Z999AA10123456784', '2026-11-19', '2026-11-25', NULL),
                ('default', 'GHI789', 'DHL', 'JD014600003828392412', '2026-11-03', '2026-11-06', '2026-11-05')
                ON CONFLICT DO NOTHING;
            INSERT INTO invoices VALUES
                ('default', 'INV-5001', 'ABC123', 5990, 'paid', '2026-11-18'),
                ('default', 'INV-5002', 'DEF456', 12900, 'open', '2026-11-22'),
                ('default', 'INV-5003', 'GHI789', 2450, 'paid', '2026-11-02'),
                ('default', 'INV-5004', 'JKL012', 8800, 'refunded', '2026-11-10')
                ON CONFLICT DO NOTHING;
        """
}

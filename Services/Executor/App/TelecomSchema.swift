import Postgres

/// The demo system of record of the telecom pack's native tools (schema `telecom`): regions and
/// the postcode areas in them, network outages, subscribers, their SIMs, and a ledger of
/// top-ups. Demo rows, like `commerce`'s, only with `SWITCHBOARD_DEMO_DATA=true`. Numbers are
/// from Ofcom's drama range (07700 900xxx), so they reach nobody:
/// - +447700900123 London, pay as you go, £12.50, SIM active (PUK 12345678)
/// - +447700900456 Manchester (outage being fixed), pay as you go, £3.20, SIM awaiting activation
/// - +447700900789 Glasgow (outage under investigation), monthly plan, SIM PUK-locked
/// - +447700900321 Bristol, pay as you go, account suspended
public enum TelecomSchema {
    public static let systemOfRecord = SystemOfRecord(name: "telecom", migrations: migrations, demoData: demoData)

    static let migrations: [Migration] = [
        Migration(version: 1, name: "telecom_tables", sql: """
            CREATE TABLE regions (
                tenant_id text NOT NULL,
                region_code text NOT NULL CHECK (region_code ~ '^[A-Z]{3,20}$'),
                name text NOT NULL,
                PRIMARY KEY (tenant_id, region_code)
            );
            -- The letters of a postcode (SW1A 1AA → SW), which is how districts map to regions.
            CREATE TABLE postcode_areas (
                tenant_id text NOT NULL,
                area text NOT NULL CHECK (area ~ '^[A-Z]{1,2}$'),
                region_code text NOT NULL,
                PRIMARY KEY (tenant_id, area),
                FOREIGN KEY (tenant_id, region_code) REFERENCES regions
            );
            CREATE TABLE outages (
                tenant_id text NOT NULL,
                outage_id text NOT NULL,
                region_code text NOT NULL,
                services text NOT NULL,
                status text NOT NULL CHECK (status IN ('investigating', 'fixing', 'resolved')),
                started_at timestamptz NOT NULL,
                estimated_fix timestamptz,
                PRIMARY KEY (tenant_id, outage_id),
                FOREIGN KEY (tenant_id, region_code) REFERENCES regions
            );
            CREATE INDEX outages_open ON outages (tenant_id, region_code) WHERE status <> 'resolved';
            CREATE TABLE subscribers (
                tenant_id text NOT NULL,
                phone_number text NOT NULL CHECK (phone_number ~ '^\\+[1-9][0-9]{7,14}$'),
                name text NOT NULL,
                home_region text NOT NULL,
                plan text NOT NULL CHECK (plan IN ('pay_as_you_go', 'pay_monthly')),
                status text NOT NULL CHECK (status IN ('active', 'suspended')),
                balance_pence bigint NOT NULL CHECK (balance_pence >= 0),
                data_remaining_mb integer NOT NULL CHECK (data_remaining_mb >= 0),
                allowance_renews_on date NOT NULL,
                PRIMARY KEY (tenant_id, phone_number),
                FOREIGN KEY (tenant_id, home_region) REFERENCES regions
            );
            CREATE TABLE sims (
                tenant_id text NOT NULL,
                iccid text NOT NULL CHECK (iccid ~ '^[0-9]{19,20}$'),
                phone_number text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending_activation', 'active', 'puk_locked', 'replaced')),
                puk text NOT NULL CHECK (puk ~ '^[0-9]{8}$'),
                activated_at timestamptz,
                PRIMARY KEY (tenant_id, iccid),
                FOREIGN KEY (tenant_id, phone_number) REFERENCES subscribers
            );
            -- One SIM in service per number; replaced SIMs stay for the record.
            CREATE UNIQUE INDEX sims_current ON sims (tenant_id, phone_number) WHERE status <> 'replaced';
            CREATE TABLE recharges (
                tenant_id text NOT NULL,
                recharge_id uuid NOT NULL DEFAULT gen_random_uuid(),
                phone_number text NOT NULL,
                amount_pence bigint NOT NULL CHECK (amount_pence > 0),
                balance_after_pence bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, recharge_id),
                FOREIGN KEY (tenant_id, phone_number) REFERENCES subscribers
            );
            """),
        // Who may ask about a number: its account's holders (a conversation's tools see only
        // its customer's numbers, as retail's see only its customer's orders).
        Migration(version: 2, name: "account_holders", sql: """
            CREATE TABLE account_holders (
                tenant_id text NOT NULL,
                phone_number text NOT NULL,
                customer_id text NOT NULL,
                PRIMARY KEY (tenant_id, phone_number, customer_id),
                FOREIGN KEY (tenant_id, phone_number) REFERENCES subscribers
            );
            """),
    ]
}

extension TelecomSchema {
    /// Idempotent: applied at every start of a demo stack.
    static let demoData = """
            INSERT INTO regions VALUES
                ('default', 'LONDON', 'London'), ('default', 'MANCHESTER', 'Manchester'),
                ('default', 'BIRMINGHAM', 'Birmingham'), ('default', 'LEEDS', 'Leeds'),
                ('default', 'LIVERPOOL', 'Liverpool'), ('default', 'GLASGOW', 'Glasgow'),
                ('default', 'EDINBURGH', 'Edinburgh'), ('default', 'CARDIFF', 'Cardiff'),
                ('default', 'BRISTOL', 'Bristol'), ('default', 'BELFAST', 'Belfast'),
                ('default', 'NEWCASTLE', 'Newcastle')
                ON CONFLICT DO NOTHING;
            INSERT INTO postcode_areas VALUES
                ('default', 'E', 'LONDON'), ('default', 'EC', 'LONDON'), ('default', 'N', 'LONDON'),
                ('default', 'NW', 'LONDON'), ('default', 'SE', 'LONDON'), ('default', 'SW', 'LONDON'),
                ('default', 'W', 'LONDON'), ('default', 'WC', 'LONDON'),
                ('default', 'M', 'MANCHESTER'), ('default', 'B', 'BIRMINGHAM'), ('default', 'LS', 'LEEDS'),
                ('default', 'L', 'LIVERPOOL'), ('default', 'G', 'GLASGOW'), ('default', 'EH', 'EDINBURGH'),
                ('default', 'CF', 'CARDIFF'), ('default', 'BS', 'BRISTOL'), ('default', 'BT', 'BELFAST'),
                ('default', 'NE', 'NEWCASTLE')
                ON CONFLICT DO NOTHING;
            INSERT INTO outages VALUES
                ('default', 'OUT-301', 'MANCHESTER', 'mobile data', 'fixing', '2026-11-25 09:40+00', '2026-11-25 18:00+00'),
                ('default', 'OUT-302', 'GLASGOW', 'calls and mobile data', 'investigating', '2026-11-25 11:15+00', NULL),
                ('default', 'OUT-290', 'LEEDS', 'calls', 'resolved', '2026-11-20 07:00+00', '2026-11-20 12:00+00')
                ON CONFLICT DO NOTHING;
            INSERT INTO subscribers VALUES
                ('default', '+447700900123', 'Ada Lovelace', 'LONDON', 'pay_as_you_go', 'active', 1250, 3072, '2026-12-01'),
                ('default', '+447700900456', 'Grace Hopper', 'MANCHESTER', 'pay_as_you_go', 'active', 320, 512, '2026-12-04'),
                ('default', '+447700900789', 'Alan Turing', 'GLASGOW', 'pay_monthly', 'active', 0, 20480, '2026-12-10'),
                ('default', '+447700900321', 'Katherine Johnson', 'BRISTOL', 'pay_as_you_go', 'suspended', 75, 0, '2026-12-02')
                ON CONFLICT DO NOTHING;
            INSERT INTO sims VALUES
                ('default', '8944100000000000123', '+447700900123', 'active', '12345678', '2025-03-02 10:00+00'),
                ('default', '8944100000000000456', '+447700900456', 'pending_activation', '87654321', NULL),
                ('default', '8944100000000000789', '+447700900789', 'puk_locked', '24681357', '2024-06-11 15:30+00'),
                ('default', '8944100000000000321', '+447700900321', 'active', '13572468', '2023-01-20 09:00+00')
                ON CONFLICT DO NOTHING;
            INSERT INTO account_holders VALUES
                ('default', '+447700900123', 'cus_t1'), ('default', '+447700900456', 'cus_t1'),
                ('default', '+447700900789', 'cus_t1'), ('default', '+447700900321', 'cus_t1'),
                ('default', '+447700900123', 'cus_ada'), ('default', '+447700900456', 'cus_grace'),
                ('default', '+447700900789', 'cus_alan'), ('default', '+447700900321', 'cus_katherine')
                ON CONFLICT DO NOTHING;
        """
}

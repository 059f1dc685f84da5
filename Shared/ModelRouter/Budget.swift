public import Foundation

/// A spending window a limit applies to. Hour, day and month are calendar periods in UTC;
/// `conversation` is a conversation's whole life.
public enum BudgetWindow: String, Sendable, Hashable, CaseIterable {
    case hourly
    case daily
    case monthly
    case conversation

    /// Start of the calendar period containing `date` (UTC); nil for `conversation`.
    public func periodStart(containing date: Date) -> Date? {
        let component: Calendar.Component
        switch self {
        case .hourly: component = .hour
        case .daily: component = .day
        case .monthly: component = .month
        case .conversation: return nil
        }
        return Self.utcCalendar.dateInterval(of: component, for: date)?.start
    }

    private static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        return calendar
    }()
}

/// Spending limits in micro-dollars; nil means unlimited.
public struct BudgetLimits: Sendable, Hashable {
    public var hourlyMicros: Int64?
    public var dailyMicros: Int64?
    public var monthlyMicros: Int64?
    public var conversationMicros: Int64?

    public init(hourlyMicros: Int64? = nil, dailyMicros: Int64? = nil, monthlyMicros: Int64? = nil, conversationMicros: Int64? = nil) {
        self.hourlyMicros = hourlyMicros
        self.dailyMicros = dailyMicros
        self.monthlyMicros = monthlyMicros
        self.conversationMicros = conversationMicros
    }

    public static let unlimited = BudgetLimits()

    public var isUnlimited: Bool { self == .unlimited }

    public subscript(window: BudgetWindow) -> Int64? {
        get {
            switch window {
            case .hourly: hourlyMicros
            case .daily: dailyMicros
            case .monthly: monthlyMicros
            case .conversation: conversationMicros
            }
        }
        set {
            switch window {
            case .hourly: hourlyMicros = newValue
            case .daily: dailyMicros = newValue
            case .monthly: monthlyMicros = newValue
            case .conversation: conversationMicros = newValue
            }
        }
    }
}

/// Limits for every tenant, with per-tenant overrides already merged over the default.
public struct BudgetPolicy: Sendable, Hashable {
    public var defaultLimits: BudgetLimits
    public var tenantLimits: [String: BudgetLimits]

    public init(defaultLimits: BudgetLimits = .unlimited, tenantLimits: [String: BudgetLimits] = [:]) {
        self.defaultLimits = defaultLimits
        self.tenantLimits = tenantLimits
    }

    public static let unlimited = BudgetPolicy()

    public func limits(for tenant: String) -> BudgetLimits { tenantLimits[tenant] ?? defaultLimits }
}

/// Where spend so far comes from; the planner implements it against the cost ledger.
public protocol SpendSource: Sendable {
    /// Micro-dollars the tenant spent at or after `since`.
    func spend(tenant: String, since: Date) async throws -> Int64
    /// Micro-dollars spent in the conversation so far.
    func spend(conversation: String) async throws -> Int64
}

/// Spend so far per window, in micro-dollars (0 for windows not fetched).
public struct BudgetSpends: Sendable, Hashable {
    public var hourlyMicros: Int64
    public var dailyMicros: Int64
    public var monthlyMicros: Int64
    public var conversationMicros: Int64

    public init(hourlyMicros: Int64 = 0, dailyMicros: Int64 = 0, monthlyMicros: Int64 = 0, conversationMicros: Int64 = 0) {
        self.hourlyMicros = hourlyMicros
        self.dailyMicros = dailyMicros
        self.monthlyMicros = monthlyMicros
        self.conversationMicros = conversationMicros
    }

    public subscript(window: BudgetWindow) -> Int64 {
        switch window {
        case .hourly: hourlyMicros
        case .daily: dailyMicros
        case .monthly: monthlyMicros
        case .conversation: conversationMicros
        }
    }

    /// Asks `source` only for the windows `limits` constrains (and the conversation only when
    /// one is given), so an unlimited tenant costs no ledger queries.
    public static func fetch(
        from source: any SpendSource, limits: BudgetLimits, tenant: String, conversation: String?, now: Date
    ) async throws -> BudgetSpends {
        var spends = BudgetSpends()
        if limits.hourlyMicros != nil, let start = BudgetWindow.hourly.periodStart(containing: now) {
            spends.hourlyMicros = try await source.spend(tenant: tenant, since: start)
        }
        if limits.dailyMicros != nil, let start = BudgetWindow.daily.periodStart(containing: now) {
            spends.dailyMicros = try await source.spend(tenant: tenant, since: start)
        }
        if limits.monthlyMicros != nil, let start = BudgetWindow.monthly.periodStart(containing: now) {
            spends.monthlyMicros = try await source.spend(tenant: tenant, since: start)
        }
        if limits.conversationMicros != nil, let conversation {
            spends.conversationMicros = try await source.spend(conversation: conversation)
        }
        return spends
    }
}

/// A call that would break a limit.
public struct BudgetExceeded: Sendable, Hashable {
    public var window: BudgetWindow
    public var spentMicros: Int64
    public var limitMicros: Int64
    public var estimateMicros: Int64

    public init(window: BudgetWindow, spentMicros: Int64, limitMicros: Int64, estimateMicros: Int64) {
        self.window = window
        self.spentMicros = spentMicros
        self.limitMicros = limitMicros
        self.estimateMicros = estimateMicros
    }
}

/// The room left under the tightest limit.
public struct BudgetHeadroom: Sendable, Hashable {
    public var window: BudgetWindow
    /// `limit - spent`; negative once a limit is already overspent.
    public var remainingMicros: Int64

    public init(window: BudgetWindow, remainingMicros: Int64) {
        self.window = window
        self.remainingMicros = remainingMicros
    }
}

/// Pure budget arithmetic.
public enum BudgetCheck {
    public enum Outcome: Sendable, Hashable {
        case ok
        case exceeded(BudgetExceeded)
    }

    /// Whether a call estimated at `estimateMicros` fits: it must keep `spent + estimate <=
    /// limit` for every configured window. A free call (estimate 0) always fits, even past a
    /// limit, since it adds nothing. When several limits break, the one with the least
    /// headroom is reported (ties: hourly, daily, monthly, conversation). `conversation` is
    /// only checked when `includeConversation` (a request without a conversation id has none).
    public static func evaluate(
        limits: BudgetLimits, spends: BudgetSpends, estimateMicros: Int64, includeConversation: Bool = true
    ) -> Outcome {
        guard estimateMicros > 0 else { return .ok }
        var worst: BudgetExceeded?
        for window in BudgetWindow.allCases where includeConversation || window != .conversation {
            guard let limit = limits[window] else { continue }
            let spent = spends[window]
            let (total, overflow) = spent.addingReportingOverflow(estimateMicros)
            guard overflow || total > limit else { continue }
            let candidate = BudgetExceeded(window: window, spentMicros: spent, limitMicros: limit, estimateMicros: estimateMicros)
            if let current = worst, remaining(current.limitMicros, current.spentMicros) <= remaining(limit, spent) { continue }
            worst = candidate
        }
        return worst.map(Outcome.exceeded) ?? .ok
    }

    /// The tightest configured window's remaining room, nil when nothing is limited.
    public static func headroom(limits: BudgetLimits, spends: BudgetSpends, includeConversation: Bool = true) -> BudgetHeadroom? {
        var tightest: BudgetHeadroom?
        for window in BudgetWindow.allCases where includeConversation || window != .conversation {
            guard let limit = limits[window] else { continue }
            let room = remaining(limit, spends[window])
            if let current = tightest, current.remainingMicros <= room { continue }
            tightest = BudgetHeadroom(window: window, remainingMicros: room)
        }
        return tightest
    }
}

/// `limit - spent`, saturating (a ledger could report a negative spend after refunds).
private func remaining(_ limit: Int64, _ spent: Int64) -> Int64 {
    let (difference, overflow) = limit.subtractingReportingOverflow(spent)
    return overflow ? (spent < 0 ? .max : .min) : difference
}

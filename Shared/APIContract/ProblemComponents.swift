/// The problem+json (RFC 9457) parts both published documents share, as YAML entries for
/// `components.responses` and `components.schemas` (indented for those mappings).
public enum ProblemComponents {
    public static let response = #"""
            Problem:
              description: A problem (RFC 9457)
              content:
                application/problem+json:
                  schema: { $ref: "#/components/schemas/Problem" }
        """#

    public static let schema = #"""
            Problem:
              type: object
              required: [type, title, status]
              properties:
                type: { type: string }
                title: { type: string }
                status: { type: integer }
                detail: { type: string }
                field: { type: string }
        """#
}

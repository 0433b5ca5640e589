using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary>A request the API refuses: 400 with <see cref="Exception.Message"/> naming the field and what is allowed.</summary>
public sealed class BadRequestException(string message) : Exception(message);

/// <summary>
/// The bodies and identifiers the API accepts, read field by field so that every refusal names the field: unknown fields,
/// wrong types, nulls, blank or malformed ids, control characters (NUL included), targets that do not apply or repeat.
/// Parameters take JSON strings, numbers and booleans alike.
/// </summary>
public static partial class ApiRequests
{
    /// <summary>The largest request body the API reads (1 MiB); Kestrel refuses larger ones with 413.</summary>
    public const long MaxBodyBytes = 1 << 20;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")]
    private static partial Regex IdPattern();

    /// <summary>A run, job or schedule id from a route or a body: 1-200 letters, digits, '.', '_' or '-', starting with a letter or digit.</summary>
    public static string Id(string? value, string field)
    {
        if (value is null || !IdPattern().IsMatch(value))
        {
            throw new BadRequestException($"{field} '{Printable(value ?? "")}' is not valid: 1-200 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        return value;
    }

    /// <summary>An optional positive integer query value, within <paramref name="max"/>.</summary>
    public static int? Count(string? value, string field, int max)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 && count <= max
            ? count
            : throw new BadRequestException($"{field}='{Printable(value)}' is not allowed: a whole number from 1 to {max}");
    }

    /// <summary>An optional non-negative 64-bit query value (a cursor).</summary>
    public static long? Cursor(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        return long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var cursor) && cursor >= -1
            ? cursor
            : throw new BadRequestException($"{field}='{Printable(value)}' is not allowed: a whole number from -1 up");
    }

    /// <summary>An optional free-text query value (a metric name, a cursor id): no control characters, at most 200 characters.</summary>
    public static string? Text(string? value, string field)
    {
        if (value is null)
        {
            return null;
        }
        if (value.Length > 200 || value.Any(char.IsControl))
        {
            throw new BadRequestException($"{field} '{Printable(value)}' is not allowed: at most 200 characters, no control characters");
        }
        return value;
    }

    /// <summary>Parses the body of <c>POST /api/runs</c> (or a schedule's <c>run</c>). The run id is null when none was given.</summary>
    public static (string? RunId, RunSpec Spec) Submit(JsonElement body, string where = "")
    {
        RequireObject(body, where == "" ? "the request body" : where, ["run_id", "kind", "targets", "all", "profile", "parameters", "priority", "promote_if_better", "from_search"]);
        var runId = OptionalString(body, "run_id", where) is { } id ? Id(id, Field(where, "run_id")) : null;
        var kind = OptionalString(body, "kind", where)
            ?? throw new BadRequestException($"{Field(where, "kind")} is required: one of {string.Join(", ", JobKinds.All)}");
        if (!JobKinds.All.Contains(kind))
        {
            throw new BadRequestException($"{Field(where, "kind")} '{Printable(kind)}' is not allowed: one of {string.Join(", ", JobKinds.All)}");
        }
        var targets = Strings(body, "targets", where, "trait name");
        var all = false;
        if (body.TryGetProperty("all", out var allValue) && allValue.ValueKind != JsonValueKind.Null)
        {
            all = allValue.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new BadRequestException($"{Field(where, "all")} must be true or false, not {Describe(allValue)}"),
            };
        }
        var profile = OptionalString(body, "profile", where) ?? JobSpec.DefaultProfile;
        var parameters = Parameters(body, where);
        var priority = Int(body, "priority", where, -1_000_000, 1_000_000) ?? 0;
        string? promote = null;
        if (body.TryGetProperty("promote_if_better", out var promoteValue) && promoteValue.ValueKind != JsonValueKind.Null)
        {
            promote = promoteValue.ValueKind == JsonValueKind.String
                ? Clean(promoteValue.GetString()!, Field(where, "promote_if_better"))
                : throw new BadRequestException($"{Field(where, "promote_if_better")} must be an alias name (a string), not {Describe(promoteValue)}");
        }
        var fromSearch = OptionalString(body, "from_search", where) is { } search ? Id(search, Field(where, "from_search")) : null;
        return (runId, new RunSpec(kind, targets, all, profile, parameters, priority, promote, fromSearch));
    }

    /// <summary>Parses the body of <c>POST /api/searches</c>; the search id is null when none was given.</summary>
    public static (string? SearchId, SearchSpec Spec) Search(JsonElement body)
    {
        RequireObject(body, "the request body", ["search_id", "kind", "targets", "profile", "parameters", "space", "searcher", "metric", "mode",
            "min_epochs", "max_epochs", "reduction_factor", "max_trials", "max_concurrent", "seed", "priority"]);
        var searchId = OptionalString(body, "search_id", "") is { } id ? Id(id, "search_id") : null;
        var kind = OptionalString(body, "kind", "") ?? throw new BadRequestException($"kind is required: one of {string.Join(", ", JobKinds.All)}");
        var space = Strings(body, "space", "", "dimension such as \"lr=loguniform(1e-4,1e-2)\"", "dimensions");
        if (space.Count == 0)
        {
            throw new BadRequestException("space is required: an array of dimensions, e.g. [\"lr=loguniform(1e-4,1e-2)\", \"batch_size=choice(32,64)\"]");
        }
        var searcher = OptionalString(body, "searcher", "") ?? Searchers.Asha;
        var maxTrials = Int(body, "max_trials", "", 1, 10_000) ?? (searcher == Searchers.Grid ? 0 : 20);
        return (searchId, new SearchSpec(kind, Strings(body, "targets", "", "trait name"), OptionalString(body, "profile", "") ?? JobSpec.DefaultProfile,
            Parameters(body, ""), space, searcher, OptionalString(body, "metric", ""), OptionalString(body, "mode", ""),
            Int(body, "min_epochs", "", 1, 10_000) ?? 1, Int(body, "max_epochs", "", 1, 10_000) ?? 0, Int(body, "reduction_factor", "", 2, 16) ?? 3,
            maxTrials, Int(body, "max_concurrent", "", 1, 1000) ?? 4, Int(body, "seed", "", int.MinValue, int.MaxValue) ?? 0,
            Int(body, "priority", "", -1_000_000, 1_000_000) ?? 0));
    }

    private static int? Int(JsonElement body, string name, string where, int min, int max)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) && number >= min && number <= max
            ? number
            : throw new BadRequestException($"{Field(where, name)} must be a whole number from {min} to {max}, not {Describe(value)}");
    }

    /// <summary>An optional array of non-blank strings (each cleaned).</summary>
    private static List<string> Strings(JsonElement body, string name, string where, string what, string? whats = null)
    {
        var values = new List<string>();
        if (body.TryGetProperty(name, out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw new BadRequestException($"{Field(where, name)} must be an array of {whats ?? what + "s"}");
            }
            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(item.GetString()))
                {
                    throw new BadRequestException($"{Field(where, $"{name}[{i}]")} must be a {what}, not {Describe(item)}");
                }
                values.Add(Clean(item.GetString()!, Field(where, $"{name}[{i}]")));
                i++;
            }
        }
        return values;
    }

    /// <summary>The optional <c>parameters</c> object: key → string, number or boolean (as its text).</summary>
    private static Dictionary<string, string> Parameters(JsonElement body, string where)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body.TryGetProperty("parameters", out var given) && given.ValueKind != JsonValueKind.Null)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                throw new BadRequestException($"{Field(where, "parameters")} must be an object of key: value");
            }
            foreach (var parameter in given.EnumerateObject())
            {
                var key = Clean(parameter.Name, Field(where, "parameters key"));
                var name = Field(where, $"parameters.{key}");
                var value = parameter.Value.ValueKind switch
                {
                    JsonValueKind.String => Clean(parameter.Value.GetString()!, name),
                    JsonValueKind.Number => parameter.Value.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => throw new BadRequestException($"{name} must be a string, a number or a boolean, not {Describe(parameter.Value)}"),
                };
                if (!parameters.TryAdd(JobParameters.NormalizeKey(key), value))
                {
                    throw new BadRequestException($"{name} is given twice");
                }
            }
        }
        return parameters;
    }

    /// <summary>Parses the body of <c>POST /api/schedules</c>.</summary>
    public static (string Name, ScheduleSpec Spec) Schedule(JsonElement body)
    {
        RequireObject(body, "the request body", ["name", "cron", "time_zone", "run"]);
        var name = Id(OptionalString(body, "name", "") ?? throw new BadRequestException(
            "'name', 'cron' and 'run' are required, e.g. {\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"run\":{\"kind\":\"trait\",\"all\":true}}"), "name");
        var cron = OptionalString(body, "cron", "") ?? throw new BadRequestException("'cron' is required, e.g. \"0 3 * * *\"");
        var zone = OptionalString(body, "time_zone", "") ?? "UTC";
        if (!body.TryGetProperty("run", out var run) || run.ValueKind == JsonValueKind.Null)
        {
            throw new BadRequestException("'run' is required: a submit body, e.g. {\"kind\":\"trait\",\"all\":true}");
        }
        var (runId, spec) = Submit(run, "run");
        if (runId is not null)
        {
            throw new BadRequestException("run.run_id is not allowed: each firing names its run NAME-yyyyMMdd-HHmmss");
        }
        return (name, new ScheduleSpec(cron, zone, spec));
    }

    private static void RequireObject(JsonElement body, string what, string[] fields)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new BadRequestException($"{what} must be a JSON object, not {Describe(body)}");
        }
        foreach (var property in body.EnumerateObject())
        {
            if (!fields.Contains(property.Name, StringComparer.Ordinal))
            {
                throw new BadRequestException($"{what} has an unknown field '{Printable(property.Name)}'; allowed: {string.Join(", ", fields)}");
            }
        }
    }

    private static string? OptionalString(JsonElement body, string name, string where)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.String
            ? Clean(value.GetString()!, Field(where, name))
            : throw new BadRequestException($"{Field(where, name)} must be a string, not {Describe(value)}");
    }

    private static string Field(string where, string name) => where.Length == 0 ? name : $"{where}.{name}";

    /// <summary>Refuses control characters (NUL among them) and text over 10,000 characters.</summary>
    private static string Clean(string value, string field) =>
        value.Length > 10_000 || value.Any(char.IsControl)
            ? throw new BadRequestException($"{field} '{Printable(value)}' is not allowed: no control characters, at most 10000 characters")
            : value;

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => $"the string '{Printable(value.GetString()!)}'",
        _ => value.GetRawText(),
    };

    /// <summary>A value as it can be shown back in a message: control characters escaped, at most 80 characters.</summary>
    public static string Printable(string value)
    {
        var shown = string.Concat(value.Take(80).Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return value.Length > 80 ? shown + "…" : shown;
    }
}

namespace PunkGrid.Contracts;

/// <summary>Hyperparameter overrides as users type them: <c>--set key=value</c>, keys case-insensitive with <c>-</c> read as <c>_</c>.</summary>
public static class JobParameters
{
    public static string NormalizeKey(string key) => key.Trim().ToLowerInvariant().Replace('-', '_');

    /// <summary>Parses <c>key=value</c> assignments; a malformed one is an <see cref="ArgumentException"/> naming it.</summary>
    public static Dictionary<string, string> ParseAssignments(IEnumerable<string>? assignments)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in assignments ?? [])
        {
            var at = pair.IndexOf('=');
            if (at <= 0)
            {
                throw new ArgumentException($"--set '{pair}' is not key=value");
            }
            parameters[NormalizeKey(pair[..at])] = pair[(at + 1)..].Trim();
        }
        return parameters;
    }

    /// <summary>The same keys normalized as <see cref="ParseAssignments"/> does (for parameters given as a JSON object).</summary>
    public static Dictionary<string, string> Normalize(IReadOnlyDictionary<string, string> parameters) =>
        parameters.ToDictionary(p => NormalizeKey(p.Key), p => p.Value.Trim(), StringComparer.Ordinal);

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/> in invariant culture when an option gave one (null: left as it is).</summary>
    public static void SetIfGiven(IDictionary<string, string> parameters, string key, object? value)
    {
        if (value is not null)
        {
            parameters[key] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!;
        }
    }
}

using System.Globalization;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// The string-keyed hyperparameter overrides a job carries (from <c>--epochs 3</c>, <c>--set lr=0.02</c>, a submit's
/// parameters). Keys ignore case and treat <c>-</c> like <c>_</c>. Every read names the key, the bad value and
/// what is allowed; <see cref="RejectUnknown"/> names keys no trainer reads.
/// </summary>
public sealed class TrainingParameters
{
    private readonly Dictionary<string, string> values;
    private readonly HashSet<string> read = new(StringComparer.Ordinal);

    public TrainingParameters(IReadOnlyDictionary<string, string>? values, string kind)
    {
        Kind = kind;
        this.values = (values ?? new Dictionary<string, string>())
            .ToDictionary(p => NormalizeKey(p.Key), p => p.Value.Trim(), StringComparer.Ordinal);
    }

    public string Kind { get; }

    /// <summary>The profiles every kind has: <c>seed</c> (the write-up's settings) and <c>quick</c> (minutes on a CPU).</summary>
    public static IReadOnlyList<string> Profiles { get; } = ["seed", "quick"];

    /// <summary>
    /// Builds one kind's options: the baseline of <paramref name="profile"/> (<paramref name="seed"/>,
    /// <paramref name="quick"/> or one of the kind's <paramref name="more"/> profiles), then <paramref name="read"/>
    /// applies the overrides to it, then any override no read asked for is rejected.
    /// </summary>
    public static TOptions Apply<TOptions>(
        string kind,
        string profile,
        TOptions seed,
        TOptions quick,
        IReadOnlyDictionary<string, string>? overrides,
        Func<TOptions, TrainingParameters, TOptions> read,
        IReadOnlyDictionary<string, TOptions>? more = null)
    {
        var name = profile.Trim().ToLowerInvariant();
        var baseline = name switch
        {
            "seed" => seed,
            "quick" => quick,
            _ when more is not null && more.TryGetValue(name, out var other) => other,
            _ => throw new ArgumentException(
                $"unknown profile '{profile}'; allowed: {string.Join(", ", Profiles.Concat(more?.Keys ?? []))}"),
        };
        var parameters = new TrainingParameters(overrides, kind);
        var options = read(baseline, parameters);
        parameters.RejectUnknown();
        return options;
    }

    public static string NormalizeKey(string key) => key.Trim().ToLowerInvariant().Replace('-', '_');

    public string? Raw(string key)
    {
        read.Add(key);
        return values.TryGetValue(key, out var value) ? value : null;
    }

    /// <summary>The options when their <c>stop_after_epoch</c> is within their <c>epochs</c>; else a refusal naming both.</summary>
    public static T RequireStopWithinEpochs<T>(string kind, T options, Func<T, (int Stop, int Epochs)> read)
    {
        var (stop, epochs) = read(options);
        return stop <= epochs ? options
            : throw new ArgumentException($"{kind} parameter stop_after_epoch={stop} is not allowed: 0 (all) to epochs ({epochs})");
    }

    public int Int(string key, int fallback, int min, int max)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return fallback;
        }
        return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ArgumentException($"{Kind} parameter {key}='{raw}' is not allowed: expected an integer in {min}..{max}");
    }

    public double Double(string key, double fallback, double min, double max)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return fallback;
        }
        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ArgumentException($"{Kind} parameter {key}='{raw}' is not allowed: expected a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
    }

    public string Choice(string key, string fallback, params string[] allowed)
    {
        var raw = Raw(key);
        if (raw is null)
        {
            return fallback;
        }
        var match = allowed.FirstOrDefault(a => string.Equals(a, raw, StringComparison.OrdinalIgnoreCase));
        return match ?? throw new ArgumentException($"{Kind} parameter {key}='{raw}' is not allowed: expected one of {string.Join(", ", allowed)}");
    }

    public bool Flag(string key, bool fallback) =>
        Choice(key, fallback ? "true" : "false", "true", "false") == "true";

    /// <summary>Throws if a key was given that no read asked for (a typo must not be silently ignored).</summary>
    public void RejectUnknown()
    {
        var unknown = values.Keys.Where(k => !read.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException(
                $"unknown {Kind} parameter(s): {string.Join(", ", unknown)}; allowed: {string.Join(", ", read.Order(StringComparer.Ordinal))}");
        }
    }
}

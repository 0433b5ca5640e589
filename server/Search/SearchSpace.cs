using System.Globalization;
using System.Text.RegularExpressions;

namespace PunkGrid.Server.Search;

/// <summary>
/// One hyperparameter a search varies: <c>choice(a,b,…)</c>, <c>uniform(lo,hi)</c>, <c>loguniform(lo,hi)</c> (lo &gt; 0)
/// or <c>int(lo,hi)</c> (both ends included). A value is drawn as the string a job's parameters take.
/// </summary>
public abstract record SearchDimension(string Name)
{
    /// <summary>A value drawn with <paramref name="random"/>.</summary>
    public abstract string Sample(Random random);

    /// <summary>The values a grid search tries; null when the dimension is continuous (a grid needs choice or int).</summary>
    public abstract IReadOnlyList<string>? GridValues { get; }

    public sealed record Choice(string Name, IReadOnlyList<string> Values) : SearchDimension(Name)
    {
        public override string Sample(Random random) => Values[random.Next(Values.Count)];

        public override IReadOnlyList<string>? GridValues => Values;
    }

    public sealed record Uniform(string Name, double Low, double High) : SearchDimension(Name)
    {
        public override string Sample(Random random) => Format(Low + (random.NextDouble() * (High - Low)));

        public override IReadOnlyList<string>? GridValues => null;
    }

    public sealed record LogUniform(string Name, double Low, double High) : SearchDimension(Name)
    {
        public override string Sample(Random random) => Format(Math.Exp(Math.Log(Low) + (random.NextDouble() * (Math.Log(High) - Math.Log(Low)))));

        public override IReadOnlyList<string>? GridValues => null;
    }

    public sealed record IntRange(string Name, long Low, long High) : SearchDimension(Name)
    {
        /// <summary>The most values an int range may put in a grid.</summary>
        public const int MaxGridValues = 1000;

        public override string Sample(Random random) => random.NextInt64(Low, High + 1).ToString(CultureInfo.InvariantCulture);

        public override IReadOnlyList<string>? GridValues => High - Low < MaxGridValues
            ? Enumerable.Range(0, (int)(High - Low + 1)).Select(i => (Low + i).ToString(CultureInfo.InvariantCulture)).ToList()
            : null;
    }

    /// <summary>Six significant digits, invariant: what a job's parameter parser reads back exactly as drawn.</summary>
    private static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>A search space: dimensions by name, parsed from <c>name=function(arguments)</c> lines.</summary>
public sealed partial class SearchSpace
{
    private SearchSpace(IReadOnlyList<SearchDimension> dimensions) => Dimensions = dimensions;

    public IReadOnlyList<SearchDimension> Dimensions { get; }

    [GeneratedRegex(@"^\s*(?<name>[A-Za-z][A-Za-z0-9_]{0,63})\s*=\s*(?<function>choice|uniform|loguniform|int)\s*\((?<args>[^()]*)\)\s*$")]
    private static partial Regex Line();

    /// <summary>Parses one dimension per item (<c>learning_rate=loguniform(1e-4,1e-1)</c>); a bad one is refused naming it and what is allowed.</summary>
    public static SearchSpace Parse(IEnumerable<string> items)
    {
        var dimensions = new List<SearchDimension>();
        foreach (var item in items)
        {
            var m = Line().Match(item);
            if (!m.Success)
            {
                throw new ArgumentException($"search dimension '{item}' is not allowed: name=choice(a,b,…), name=uniform(lo,hi), name=loguniform(lo,hi) or name=int(lo,hi)");
            }
            var name = m.Groups["name"].Value.ToLowerInvariant();
            if (dimensions.Any(d => d.Name == name))
            {
                throw new ArgumentException($"search dimension '{name}' is given twice");
            }
            var args = m.Groups["args"].Value.Split(',', StringSplitOptions.TrimEntries);
            dimensions.Add(m.Groups["function"].Value switch
            {
                "choice" => args.Length >= 1 && args.All(a => a.Length > 0)
                    ? new SearchDimension.Choice(name, args.Distinct(StringComparer.Ordinal).ToList())
                    : throw new ArgumentException($"search dimension '{item}': choice takes one or more values, none empty"),
                "uniform" => Range(item, args, (lo, hi) => new SearchDimension.Uniform(name, lo, hi), positive: false),
                "loguniform" => Range(item, args, (lo, hi) => new SearchDimension.LogUniform(name, lo, hi), positive: true),
                _ => IntRange(item, name, args),
            });
        }
        return dimensions.Count > 0 ? new SearchSpace(dimensions) : throw new ArgumentException("a search space needs at least one dimension");
    }

    private static SearchDimension Range(string item, string[] args, Func<double, double, SearchDimension> make, bool positive)
    {
        if (args.Length == 2
            && double.TryParse(args[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var lo)
            && double.TryParse(args[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var hi)
            && double.IsFinite(lo) && double.IsFinite(hi) && lo < hi && (!positive || lo > 0))
        {
            return make(lo, hi);
        }
        throw new ArgumentException($"search dimension '{item}': takes two numbers lo < hi{(positive ? ", lo above zero" : "")}");
    }

    private static SearchDimension.IntRange IntRange(string item, string name, string[] args)
    {
        if (args.Length == 2
            && long.TryParse(args[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var lo)
            && long.TryParse(args[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var hi)
            && lo <= hi)
        {
            return new SearchDimension.IntRange(name, lo, hi);
        }
        throw new ArgumentException($"search dimension '{item}': int takes two whole numbers lo <= hi");
    }

    /// <summary>A configuration drawn with <paramref name="random"/>: one value per dimension.</summary>
    public IReadOnlyDictionary<string, string> Sample(Random random) => Dimensions.ToDictionary(d => d.Name, d => d.Sample(random));

    /// <summary>Every combination of the dimensions' grid values, in a fixed order; refused when a dimension is continuous or the grid too large.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> Grid(int maxConfigurations)
    {
        var size = GridValues().Aggregate(1L, (n, values) => n * values.Count);
        if (size > maxConfigurations)
        {
            throw new ArgumentException($"the grid has {size} configurations; at most {maxConfigurations} are allowed (use random or asha)");
        }
        return Enumerable.Range(0, (int)size).Select(GridConfiguration).ToList();
    }

    /// <summary>
    /// The grid's configuration number <paramref name="index"/> (from 0) without enumerating the ones before it: the first
    /// dimension varies slowest, the last fastest (the order of <see cref="Grid"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> GridConfiguration(int index)
    {
        var values = GridValues();
        var configuration = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var d = Dimensions.Count - 1; d >= 0; d--)
        {
            configuration[Dimensions[d].Name] = values[d][index % values[d].Count];
            index /= values[d].Count;
        }
        return configuration;
    }

    /// <summary>Each dimension's grid values; refused when a dimension is continuous.</summary>
    private IReadOnlyList<string>[] GridValues() => Dimensions.Select(d => d.GridValues
        ?? throw new ArgumentException($"a grid search cannot enumerate '{d.Name}': give it as choice(…) or a small int(lo,hi)")).ToArray();
}

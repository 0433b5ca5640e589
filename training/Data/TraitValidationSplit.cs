namespace PunkGrid.Training.Data;

/// <summary>
/// A validation split for one trait, carved from the training split (never from the test split): the same share of
/// the trait's positives and of its negatives, chosen at random with a seed, so a rare trait keeps its real
/// prevalence there. A class with 2 or more punks gives at least one to validation and keeps at least one for
/// training; a class of one stays in training.
/// </summary>
public sealed record TraitValidationSplit(int[] Train, int[] Validation)
{
    public static TraitValidationSplit Carve(IReadOnlyList<int> trainIds, bool[] labels, double fraction, int seed)
    {
        if (fraction is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the validation fraction must be in [0, 1)");
        }
        if (fraction == 0)
        {
            return new TraitValidationSplit([.. trainIds], []);
        }
        var random = new Random(seed);
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var positive in new[] { true, false })
        {
            var members = trainIds.Where(id => labels[id] == positive).ToArray();
            random.Shuffle(members);
            var held = members.Length < 2 ? 0 : Math.Clamp((int)Math.Round(members.Length * fraction), 1, members.Length - 1);
            validation.AddRange(members.Take(held));
            train.AddRange(members.Skip(held));
        }
        train.Sort();
        validation.Sort();
        return new TraitValidationSplit([.. train], [.. validation]);
    }
}

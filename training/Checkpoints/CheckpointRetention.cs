namespace PunkGrid.Training.Checkpoints;

/// <summary>
/// Which checkpoints to keep so a long sweep does not fill the disk: the last <c>keepLast</c> by epoch, and the
/// best by score (ties: the later). Everything else may be deleted.
/// </summary>
public static class CheckpointRetention
{
    public const int DefaultKeepLast = 2;

    public readonly record struct Entry<TId>(TId Id, int Epoch, double? Score);

    public static IReadOnlyList<TId> ToDelete<TId>(IEnumerable<Entry<TId>> checkpoints, int keepLast = DefaultKeepLast)
    {
        var all = checkpoints.OrderByDescending(c => c.Epoch).ToList();
        var keep = all.Take(keepLast).Select(c => c.Id).ToHashSet();
        var best = all.Where(c => c.Score is not null).OrderByDescending(c => c.Score).ThenByDescending(c => c.Epoch).FirstOrDefault();
        if (best.Score is not null)
        {
            keep.Add(best.Id);
        }
        return all.Where(c => !keep.Contains(c.Id)).Select(c => c.Id).ToList();
    }
}

using Npgsql;

namespace PunkGrid.Server.Storage;

/// <summary>Reads a row's columns by name (the query's own names or aliases), so a reader does not depend on their order.</summary>
internal static class RowColumns
{
    public static string Text(this NpgsqlDataReader row, string column) => row.GetString(row.GetOrdinal(column));

    public static string? TextOrNull(this NpgsqlDataReader row, string column) =>
        row.GetOrdinal(column) is var i && row.IsDBNull(i) ? null : row.GetString(i);

    public static int Int(this NpgsqlDataReader row, string column) => row.GetInt32(row.GetOrdinal(column));

    public static int? IntOrNull(this NpgsqlDataReader row, string column) =>
        row.GetOrdinal(column) is var i && row.IsDBNull(i) ? null : row.GetInt32(i);

    public static long Long(this NpgsqlDataReader row, string column) => row.GetInt64(row.GetOrdinal(column));

    public static double Double(this NpgsqlDataReader row, string column) => row.GetDouble(row.GetOrdinal(column));

    public static double? DoubleOrNull(this NpgsqlDataReader row, string column) =>
        row.GetOrdinal(column) is var i && row.IsDBNull(i) ? null : row.GetDouble(i);

    public static bool Bool(this NpgsqlDataReader row, string column) => row.GetBoolean(row.GetOrdinal(column));

    public static DateTimeOffset Time(this NpgsqlDataReader row, string column) => row.GetFieldValue<DateTimeOffset>(row.GetOrdinal(column));

    public static DateTimeOffset? TimeOrNull(this NpgsqlDataReader row, string column) =>
        row.GetOrdinal(column) is var i && row.IsDBNull(i) ? null : row.GetFieldValue<DateTimeOffset>(i);
}

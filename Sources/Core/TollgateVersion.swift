/// The release both binaries report (`tollgate-proxy version`, `tollgate-control version`).
public enum TollgateVersion {
    public static let current = "0.1.0"
}

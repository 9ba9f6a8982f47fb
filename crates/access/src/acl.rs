//! Bindings of the on-chain access registry and key registry (`contracts/`), and their errors
//! in words.

use alloy::sol;
use alloy::sol_types::SolInterface;

pub use lightstreams_primitives::system::{ACCESS_REGISTRY, KEY_REGISTRY};

sol! {
    /// The access registry (contracts/src/AccessRegistry.sol).
    #[derive(Debug, PartialEq, Eq)]
    interface AccessRegistry {
        /// Permission levels.
        enum Level {
            /// No access.
            NONE,
            /// Fetch and decrypt.
            READ,
            /// Read, and publish new versions.
            WRITE,
            /// Write, and grant or revoke read and write (the owner also manages admins).
            ADMIN
        }

        function create(bytes32 item, bool isPublic) external;
        function publish(bytes32 item, bytes32 manifest) external returns (uint64 index);
        function transferOwnership(bytes32 item, address newOwner) external;
        function setPublic(bytes32 item, bool isPublic) external;
        function setPolicy(bytes32 item, address policy) external;
        function grant(bytes32 item, address who, Level level, uint64 expiry) external;
        function revoke(bytes32 item, address who) external;
        function rotateEpoch(bytes32 item) external;

        function exists(bytes32 item) external view returns (bool);
        function ownerOf(bytes32 item) external view returns (address);
        function levelOf(bytes32 item, address who) external view returns (Level);
        function grantOf(bytes32 item, address who) external view returns (Level level, uint64 expiry);
        function canRead(bytes32 item, address who) external view returns (bool);
        function canWrite(bytes32 item, address who) external view returns (bool);
        function info(bytes32 item) external view returns (address owner, bool isPublic, uint64 epoch, address policy, uint64 versions);
        function version(bytes32 item, uint64 index) external view returns (bytes32 manifest, uint64 epoch, address author, uint64 timestamp);

        event ItemCreated(bytes32 indexed item, address indexed owner, bool isPublic);
        event VersionPublished(bytes32 indexed item, uint64 index, bytes32 manifest, uint64 epoch, address indexed author);
        event Granted(bytes32 indexed item, address indexed who, Level level, uint64 expiry, address indexed by);
        event Revoked(bytes32 indexed item, address indexed who, address indexed by);
        event EpochStarted(bytes32 indexed item, uint64 epoch, address indexed by);
        event PublicSet(bytes32 indexed item, bool isPublic, address indexed by);
        event PolicySet(bytes32 indexed item, address policy, address indexed by);
        event OwnershipTransferred(bytes32 indexed item, address indexed from, address indexed to);

        error NotOwner();
        error NotAdmin();
        error NotWriter();
        error ItemExists();
        error NoSuchItem();
        error OwnerIsUntouchable();
        error AdminCannotGrantAdmin();
        error BadLevel();
        error ExpiryInPast();
        error ZeroAddress();
    }

    /// The key registry (contracts/src/KeyRegistry.sol).
    #[derive(Debug, PartialEq, Eq)]
    interface KeyRegistry {
        function setKey(bytes32 x25519PublicKey) external;
        function keyOf(address who) external view returns (bytes32);
        event KeySet(address indexed who, bytes32 key);
        error ZeroKey();
    }
}

pub use AccessRegistry::Level;

/// Explain revert data from either registry in words.
pub fn describe_revert(data: &[u8]) -> String {
    use AccessRegistry::AccessRegistryErrors as E;
    if let Ok(error) = E::abi_decode(data) {
        let text = match error {
            E::NotOwner(_) => "only the item's owner may do that (NotOwner)",
            E::NotAdmin(_) => "only the owner or an admin of the item may do that (NotAdmin)",
            E::NotWriter(_) => "publishing needs write access to the item (NotWriter)",
            E::ItemExists(_) => "an item with this id already exists (ItemExists)",
            E::NoSuchItem(_) => "no such item (NoSuchItem)",
            E::OwnerIsUntouchable(_) => {
                "the owner's access cannot be granted, changed or revoked; only the owner can transfer ownership (OwnerIsUntouchable)"
            }
            E::AdminCannotGrantAdmin(_) => {
                "an admin may grant and revoke only read and write; only the owner manages admins (AdminCannotGrantAdmin)"
            }
            E::BadLevel(_) => {
                "the level must be read, write or admin; use revoke to remove access (BadLevel)"
            }
            E::ExpiryInPast(_) => "the expiry is in the past (ExpiryInPast)",
            E::ZeroAddress(_) => {
                "the zero address cannot be given access or ownership (ZeroAddress)"
            }
        };
        return format!("execution reverted: {text}");
    }
    if KeyRegistry::KeyRegistryErrors::abi_decode(data).is_ok() {
        return "execution reverted: the encryption key must not be zero (ZeroKey)".to_string();
    }
    format!("execution reverted (0x{})", hex::encode(data))
}

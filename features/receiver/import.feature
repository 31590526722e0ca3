@actor:receiver
Feature: Receiving a referral
  The receiving hospital reads the token, finds the repository of the token's community,
  downloads the ciphertext by document ID, checks it is whole and unaltered, decrypts it, checks
  the file set, and imports the instances into its own PACS.

  Background:
    Given the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"

  @CPDI-RCV-01 @option:core @required
  Scenario Outline: The receiver imports a <modality> study
    Given a referral study of <count> <modality> images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the receiving PACS holds <count> images of the study
    And every image in the receiving PACS equals the image sent, apart from the patient identity

    Examples: modalities
      | modality | count |
      | CT       | 20    |
      | MR       | 12    |
      | CR       | 2     |
      | DX       | 1     |

  @CPDI-RCV-01 @option:compressed-images @required
  Scenario Outline: The receiver imports images compressed as <syntax>
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the sending hospital's PACS holds the images in <syntax>
    And the sending hospital makes file sets of the <profile> profile
    When the sending hospital sends the study to the receiving hospital
    Then the receiving PACS holds 3 images of the study
    And every image in the receiving PACS equals the image sent, apart from the patient identity

    Examples: transfer syntaxes of the DVD and USB JPEG and JPEG 2000 profiles
      | syntax             | profile          |
      | JPEG Lossless      | STD-GEN-DVD-JPEG |
      | JPEG Baseline      | STD-GEN-USB-JPEG |
      | JPEG 2000 Lossless | STD-GEN-DVD-J2K  |

  @CPDI-TOK-02 @option:core @required
  Scenario: The receiver asks the repository of the token's community
    Given the receiving hospital's community directory lists 2 communities
    And a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital asked only the repository of the token's community
    And the receiving PACS holds 3 images of the study

  @CPDI-TOK-02 @option:core @required
  Scenario: A token of a community the receiver does not know is refused
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the token names a community the receiving hospital does not know
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital refuses the transfer
    And the repository was not asked for the document

  @CPDI-REPO-02 @option:core @required
  Scenario: An interrupted download resumes where it broke
    Given a referral study of 40 CT images for patient "山田 太郎"
    And the connection to the repository breaks once, 256 KB into the download
    When the sending hospital sends the study to the receiving hospital
    Then the transfer resumed where it broke instead of starting again
    And the receiving PACS holds 40 images of the study

  @CPDI-INT-01 @option:core @required
  Scenario Outline: A download <alteration> is refused before any of it is used
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the repository serves the document <alteration>
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital refuses the transfer
    And the receiving PACS holds no image of the study
    And the receiving hospital is told "the download is damaged"

    Examples: what happens to the ciphertext
      | alteration                                 |
      | with one byte changed in the middle        |
      | with its last part cut off                 |
      | with two of its parts swapped              |
      | with bytes added at the end                |
      | with its first part replaced               |
      | of another transfer under this document ID |

  @CPDI-CONT-01 @option:core @required
  Scenario Outline: A file set no PDI reader can trust is refused: <defect>
    Without a sound DICOMDIR or a sound ZIP file, nothing tells the receiver what the file set
    holds or where its files may go, so it imports none of it.

    Given a referral study of 3 CT images for patient "山田 太郎"
    And the file set the sending hospital makes is broken: <defect>
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital refuses the transfer
    And the receiving PACS holds no image of the study

    Examples: file sets no PDI reader can trust
      | defect                                        |
      | DICOMDIR removed                              |
      | DICOMDIR not a Basic Directory                |
      | records linked in a loop                      |
      | a lower-level offset past the end of DICOMDIR |
      | a ZIP whose file set lies in a folder         |
      | a ZIP entry named ../ESCAPE.TXT               |
      | a damaged ZIP file                            |

  @PDI-READ-01 @option:core @required
  Scenario Outline: An instance the receiver cannot read is reported and the rest imported: <defect>
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the file set the sending hospital makes is broken: <defect>
    When the sending hospital sends the study to the receiving hospital
    Then the receiving PACS holds 2 images of the study
    And the receiving hospital is told "which instance it could not read"

    Examples: instances no reader can read
      | defect                           |
      | a file without preamble and DICM |
      | a referenced file removed        |

  @PDI-AUTORUN-01 @option:core @required
  Scenario Outline: The receiver runs nothing from the file set: <defect>
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the file set the sending hospital makes is broken: <defect>
    When the sending hospital sends the study to the receiving hospital
    Then nothing from the file set was run at the receiving hospital

    Examples: content that would start by itself
      | defect                           |
      | AUTORUN.INF at the root          |
      | a Windows executable at the root |
